; Highlights of the Mova grammar. The capture names are the common ones of the tree-sitter CLI
; and Neovim (`@keyword`, `@function`, `@type.builtin`, …); docs/tools.md says how to use them in
; Helix, whose names differ.
;
; No node is captured by two patterns (editors/test.sh checks it), so the order of the patterns
; does not matter: the tree-sitter CLI and Helix let the first pattern that matches a node win,
; Neovim the last.

(comment) @comment

; Literals

(integer) @number

(string) @string

(escape_sequence) @string.escape

[
  (true)
  (false)
] @constant.builtin

; Types: `int` and `str` are the language's own; any other name is no type (E0026).

((type_identifier) @type.builtin
  (#any-of? @type.builtin "int" "str"))

((type_identifier) @type
  (#not-any-of? @type "int" "str"))

; Functions, at their definition and their calls; the builtins are names, not keywords.

(function_definition
  name: (identifier) @function)

((call_expression
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin "len" "str" "array" "push" "pop"))

((call_expression
  function: (identifier) @function.call)
  (#not-any-of? @function.call "len" "str" "array" "push" "pop"))

; Variables and labels

(parameter
  name: (identifier) @variable.parameter)

(label) @label

; A variable is a name in any other place: declared, assigned, stepped, or read in an expression.
(var_declaration
  name: (identifier) @variable)

(assignment_statement
  left: (identifier) @variable)

(update_statement
  argument: (identifier) @variable)

(var_declaration
  value: (identifier) @variable)

(assignment_statement
  right: (identifier) @variable)

(sleep_statement
  duration: (identifier) @variable)

(if_statement
  condition: (identifier) @variable)

(while_statement
  condition: (identifier) @variable)

(return_statement
  value: (identifier) @variable)

(binary_expression
  [
    left: (identifier) @variable
    right: (identifier) @variable
  ])

(unary_expression
  operand: (identifier) @variable)

(index_expression
  [
    object: (identifier) @variable
    index: (identifier) @variable
  ])

(arguments
  (identifier) @variable)

(array_expression
  (identifier) @variable)

(parenthesized_expression
  (identifier) @variable)

; Keywords

[
  "var"
  "if"
  "else"
  "while"
  "loop"
  "break"
  "continue"
  "halt"
] @keyword

"fn" @keyword.function

"return" @keyword.return

; `print` and `sleep` are keywords that take arguments, as calls do.
[
  "print"
  "sleep"
] @function.builtin

; Operators and punctuation

[
  "="
  "+="
  "-="
  "*="
  "/="
  "%="
  "++"
  "--"
  "+"
  "-"
  "*"
  "/"
  "%"
  "!"
  "=="
  "!="
  "<"
  "<="
  ">"
  ">="
  "&&"
  "||"
  "->"
] @operator

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ";"
  ":"
  ","
] @punctuation.delimiter

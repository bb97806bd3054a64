; Scopes, definitions and references of the Mova grammar, for editors that highlight a name as
; what it refers to. A block or an indented label body is a scope (variables are block-scoped); a
; function's parameters and body are one.

[
  (function_definition)
  (block)
  (indented_block)
] @local.scope

(parameter
  name: (identifier) @local.definition)

(var_declaration
  name: (identifier) @local.definition)

(identifier) @local.reference

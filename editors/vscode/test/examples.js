// Tokenizes every example (examples/*.mova and *.mvasm) with the extension's TextMate grammars,
// as VS Code does, and fails on any token scoped `invalid.illegal`: the examples are valid
// programs, so the grammars must find nothing wrong in them.
//
// Usage: node test/examples.js NODE_MODULES FILE…, NODE_MODULES holding vscode-textmate and
// vscode-oniguruma (vscode-tmgrammar-test's dependencies).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const [modules, ...files] = process.argv.slice(2);
if (modules === undefined || files.length === 0) {
  console.error('usage: node test/examples.js NODE_MODULES FILE...');
  process.exit(2);
}
const textmate = require(path.join(modules, 'vscode-textmate'));
const oniguruma = require(path.join(modules, 'vscode-oniguruma'));

const root = path.join(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const grammars = Object.fromEntries(
  manifest.contributes.grammars.map((grammar) => [grammar.scopeName, path.join(root, grammar.path)]),
);
const scopeOf = { '.mova': 'source.mova', '.mvasm': 'source.mvasm' };

async function main() {
  const wasm = fs.readFileSync(path.join(modules, 'vscode-oniguruma', 'release', 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      const file = grammars[scopeName];
      return file === undefined
        ? null
        : textmate.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
    },
  });
  let failed = 0;
  for (const file of files) {
    const scope = scopeOf[path.extname(file)];
    if (scope === undefined) {
      throw new Error(`${file}: not a .mova or .mvasm file`);
    }
    const grammar = await registry.loadGrammar(scope);
    let state = textmate.INITIAL;
    const problems = [];
    fs.readFileSync(file, 'utf8').split(/\r?\n/).forEach((line, index) => {
      const result = grammar.tokenizeLine(line, state);
      for (const token of result.tokens) {
        const invalid = token.scopes.find((name) => name.startsWith('invalid.'));
        if (invalid !== undefined) {
          const text = line.slice(token.startIndex, token.endIndex);
          problems.push(`${file}:${index + 1}:${token.startIndex + 1}: \`${text}\` is ${invalid}`);
        }
      }
      state = result.ruleStack;
    });
    if (problems.length > 0) {
      failed += 1;
      console.log(problems.join('\n'));
    }
  }
  console.log(`examples: ${files.length - failed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

// Tests of the extension's entry (extension.js) and of its manifest, with node's test runner:
// `node --test test/extension.test.js`. VS Code is not there, so `vscode` and `vscode-languageclient/node` are
// stand-ins that record what the extension asks of them.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');

const root = path.join(__dirname, '..');

/** The stand-ins, made afresh for each test. */
function fakes({ settings = {}, folders = [], startError } = {}) {
  const calls = { clients: [], errors: [], commands: {}, configurationListeners: [] };
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      this.id = id;
      this.name = name;
      this.serverOptions = serverOptions;
      this.clientOptions = clientOptions;
      this.started = false;
      this.stopped = false;
      calls.clients.push(this);
    }
    async start() {
      if (startError !== undefined) {
        throw startError;
      }
      this.started = true;
    }
    async stop() {
      this.stopped = true;
    }
  }
  const vscode = {
    workspace: {
      workspaceFolders: folders.map((fsPath) => ({ uri: { fsPath } })),
      getConfiguration(section) {
        assert.equal(section, 'mova');
        return { get: (key, fallback) => (key in settings ? settings[key] : fallback) };
      },
      onDidChangeConfiguration(listener) {
        calls.configurationListeners.push(listener);
        return { dispose() {} };
      },
    },
    window: {
      showErrorMessage(message) {
        calls.errors.push(message);
      },
    },
    commands: {
      registerCommand(name, callback) {
        calls.commands[name] = callback;
        return { dispose() {} };
      },
    },
  };
  const languageclient = { LanguageClient, TransportKind: { stdio: 0, ipc: 1, pipe: 2 } };
  return { vscode, languageclient, calls, settings };
}

/** Loads a fresh extension.js with the stand-ins in place of its two dependencies. */
function load(stand_ins) {
  const original = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') {
      return stand_ins.vscode;
    }
    if (request === 'vscode-languageclient/node') {
      return stand_ins.languageclient;
    }
    return original.call(this, request, parent, isMain);
  };
  try {
    const file = require.resolve(path.join(root, 'extension.js'));
    delete require.cache[file];
    return require(file);
  } finally {
    Module._load = original;
  }
}

function context() {
  return { subscriptions: [] };
}

test('activation starts `movac lsp` over stdio for .mova documents', async () => {
  const stand_ins = fakes();
  const extension = load(stand_ins);
  const ctx = context();
  await extension.activate(ctx);
  assert.equal(stand_ins.calls.clients.length, 1);
  const [client] = stand_ins.calls.clients;
  assert.equal(client.id, 'mova');
  assert.equal(client.started, true);
  const executable = { command: 'movac', args: ['lsp'], transport: 0 };
  assert.deepEqual(client.serverOptions, { run: executable, debug: executable });
  assert.deepEqual(client.clientOptions.documentSelector, [
    { scheme: 'file', language: 'mova' },
    { scheme: 'untitled', language: 'mova' },
  ]);
  assert.equal(ctx.subscriptions.length, 2);
  assert.deepEqual(stand_ins.calls.errors, []);
});

test('mova.server.path chooses the command', async () => {
  const stand_ins = fakes({
    settings: { 'server.path': 'target/debug/movac' },
    folders: ['/work/mova'],
  });
  await load(stand_ins).activate(context());
  assert.equal(stand_ins.calls.clients[0].serverOptions.run.command, '/work/mova/target/debug/movac');
});

test('server paths: on PATH, absolute, from the home folder, from the workspace', () => {
  const { resolveServerPath } = load(fakes());
  assert.equal(resolveServerPath(undefined, '/w'), 'movac');
  assert.equal(resolveServerPath('  ', '/w'), 'movac');
  assert.equal(resolveServerPath('movac-dev', '/w'), 'movac-dev');
  assert.equal(resolveServerPath('/opt/mova/bin/movac', '/w'), '/opt/mova/bin/movac');
  assert.equal(resolveServerPath('~/bin/movac', '/w'), path.join(os.homedir(), 'bin/movac'));
  assert.equal(resolveServerPath('./target/release/movac', '/w'), '/w/target/release/movac');
  assert.equal(resolveServerPath('target/release/movac', undefined), 'target/release/movac');
});

test('a server that does not start is reported, and the extension keeps going', async () => {
  const stand_ins = fakes({ startError: new Error('spawn movac ENOENT') });
  await load(stand_ins).activate(context());
  assert.equal(stand_ins.calls.errors.length, 1);
  assert.match(stand_ins.calls.errors[0], /\(`movac lsp`\): spawn movac ENOENT/);
  assert.match(stand_ins.calls.errors[0], /mova\.server\.path/);
});

test('changing the server settings restarts the server; other settings do not', async () => {
  const stand_ins = fakes();
  await load(stand_ins).activate(context());
  const [listener] = stand_ins.calls.configurationListeners;
  await listener({ affectsConfiguration: (key) => key === 'editor.fontSize' });
  assert.equal(stand_ins.calls.clients.length, 1);
  stand_ins.settings['server.path'] = '/opt/movac';
  await listener({ affectsConfiguration: (key) => key === 'mova.server.path' });
  assert.equal(stand_ins.calls.clients.length, 2);
  assert.equal(stand_ins.calls.clients[0].stopped, true);
  assert.equal(stand_ins.calls.clients[1].serverOptions.run.command, '/opt/movac');
  assert.equal(stand_ins.calls.clients[1].started, true);
});

test('the restart command and deactivation stop the running server', async () => {
  const stand_ins = fakes();
  const extension = load(stand_ins);
  await extension.activate(context());
  await stand_ins.calls.commands['mova.restartServer']();
  assert.equal(stand_ins.calls.clients.length, 2);
  assert.equal(stand_ins.calls.clients[0].stopped, true);
  await extension.deactivate();
  assert.equal(stand_ins.calls.clients[1].stopped, true);
});

test('mova.server.enable = false starts no server', async () => {
  const stand_ins = fakes({ settings: { 'server.enable': false } });
  await load(stand_ins).activate(context());
  assert.equal(stand_ins.calls.clients.length, 0);
});

test('the manifest declares both languages, their files and the server settings', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const contributes = manifest.contributes;
  assert.deepEqual(
    contributes.languages.map((language) => [language.id, language.extensions]),
    [
      ['mova', ['.mova']],
      ['mvasm', ['.mvasm']],
    ],
  );
  for (const language of contributes.languages) {
    const configuration = JSON.parse(fs.readFileSync(path.join(root, language.configuration), 'utf8'));
    assert.ok(configuration.comments.lineComment, `${language.id} has a line comment`);
  }
  for (const grammar of contributes.grammars) {
    const tm = JSON.parse(fs.readFileSync(path.join(root, grammar.path), 'utf8'));
    assert.equal(tm.scopeName, grammar.scopeName);
    assert.ok(contributes.languages.some((language) => language.id === grammar.language));
  }
  assert.equal(contributes.configuration.properties['mova.server.path'].default, 'movac');
  assert.ok(contributes.commands.some((command) => command.command === 'mova.restartServer'));
  assert.ok(fs.existsSync(path.join(root, manifest.main)));
  assert.ok(manifest.dependencies['vscode-languageclient']);
});

test('the language configuration indents after `{` and after a bare label line', () => {
  const configuration = JSON.parse(
    fs.readFileSync(path.join(root, 'language-configuration.json'), 'utf8'),
  );
  const increase = new RegExp(configuration.indentationRules.increaseIndentPattern);
  const decrease = new RegExp(configuration.indentationRules.decreaseIndentPattern);
  for (const line of ['while i < 3 {', 'fn f(a: int) -> int {', 'loop:', '    rows:  // outer', 'print(', 'var xs = [']) {
    assert.ok(increase.test(line), `indents after ${JSON.stringify(line)}`);
  }
  for (const line of ['var x: int = 1;', 'print(x);', 'rows: i++;', '// a {', 'if x { print(1); }', 'var s = "{";']) {
    assert.ok(!increase.test(line), `does not indent after ${JSON.stringify(line)}`);
  }
  assert.ok(decrease.test('    }'));
  assert.ok(!decrease.test('    print(x);'));
});

test("the assembly grammar knows every mnemonic of the opcode table, and no other", () => {
  const isa = fs.readFileSync(path.join(root, '..', '..', 'lang', 'src', 'isa.rs'), 'utf8');
  const mnemonics = [...isa.matchAll(/^\s+0x[0-9A-Fa-f]+ [A-Za-z]+ "([A-Z0-9]+)"/gm)].map((m) => m[1]);
  assert.ok(mnemonics.length >= 60, `found ${mnemonics.length} mnemonics in lang/src/isa.rs`);
  const grammar = JSON.parse(fs.readFileSync(path.join(root, 'syntaxes', 'mvasm.tmLanguage.json'), 'utf8'));
  const known = grammar.repository.instruction.beginCaptures['1'].patterns
    .filter((pattern) => pattern.name !== 'invalid.illegal.mnemonic.mvasm')
    .flatMap((pattern) => /\(\?:([A-Z0-9|]+)\)/.exec(pattern.match)[1].split('|'));
  assert.deepEqual([...known].sort(), [...mnemonics].sort());
});

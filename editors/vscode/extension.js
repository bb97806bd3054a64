// The Mova extension: starts the language server, `movac lsp`, for .mova files. Highlighting
// comes from the TextMate grammars that package.json declares and needs none of this.
'use strict';

const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

const CLIENT_ID = 'mova';
const CLIENT_NAME = 'Mova Language Server';

/** @type {LanguageClient | undefined} */
let client;

/**
 * The command that runs the server: `mova.server.path` (default `movac`), with `~/` taken from
 * the home folder and a relative path with a `/` from the first workspace folder; a bare name is
 * looked up on `PATH`.
 * @param {string | undefined} configured
 * @param {string | undefined} workspaceFolder
 * @returns {string}
 */
function resolveServerPath(configured, workspaceFolder) {
  const value = (configured || '').trim() || 'movac';
  if (value === '~' || value.startsWith('~/')) {
    return path.join(os.homedir(), value.slice(1));
  }
  if (path.isAbsolute(value) || !value.includes('/') || workspaceFolder === undefined) {
    return value;
  }
  return path.join(workspaceFolder, value);
}

/**
 * How the server is started: `<path> lsp`, over standard input and output.
 * @param {string} command
 */
function serverOptions(command) {
  const executable = { command, args: ['lsp'], transport: TransportKind.stdio };
  return { run: executable, debug: executable };
}

function clientOptions() {
  return {
    documentSelector: [
      { scheme: 'file', language: 'mova' },
      { scheme: 'untitled', language: 'mova' },
    ],
  };
}

function workspaceFolderPath() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
}

async function startClient() {
  const configuration = vscode.workspace.getConfiguration('mova');
  if (!configuration.get('server.enable', true)) {
    return;
  }
  const command = resolveServerPath(configuration.get('server.path'), workspaceFolderPath());
  client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions(command), clientOptions());
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    const reason = error instanceof Error ? error.message : String(error);
    vscode.window.showErrorMessage(
      `Could not start the Mova language server (\`${command} lsp\`): ${reason}. ` +
        'Set `mova.server.path` to a movac that has the `lsp` command.',
    );
  }
}

async function stopClient() {
  const running = client;
  client = undefined;
  if (running !== undefined) {
    await running.stop();
  }
}

async function restartClient() {
  await stopClient();
  await startClient();
}

/** @param {import('vscode').ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('mova.restartServer', restartClient),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (
        event.affectsConfiguration('mova.server.path') ||
        event.affectsConfiguration('mova.server.enable')
      ) {
        return restartClient();
      }
      return undefined;
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate, resolveServerPath, serverOptions, clientOptions };

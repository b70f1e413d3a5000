// Speaks the part of native solc's command line that py-solc-x uses: --version and --standard-json.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', '..', 'node_modules', 'solc'));

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (a.includes('=')) return a.slice(a.indexOf('=') + 1);
      return argv[++i];
    };
    if (a === '--version' || a === '-v') opts.version = true;
    else if (a === '--standard-json') opts.standardJson = true;
    else if (a.startsWith('--base-path')) opts.basePath = value();
    else if (a.startsWith('--include-path')) opts.includePaths.push(value());
    else if (a.startsWith('--allow-paths')) opts.allowPaths.push(...value().split(','));
    else if (a === '--no-color' || a === '--pretty-json') continue;
    else {
      process.stderr.write(`solc launcher: unsupported option ${a} (only --version and --standard-json are offered)\n`);
      process.exit(2);
    }
  }
  return opts;
}

function importResolver(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths, ...opts.allowPaths];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.resolve(r, importPath));
    for (const file of candidates) {
      if (fs.existsSync(file) && fs.statSync(file).isFile()) return { contents: fs.readFileSync(file, 'utf8') };
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
  };
}

const opts = parseArgs(process.argv.slice(2));
const longVersion = solc.version().replace('.Emscripten.clang', '.Linux.g++');
if (opts.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${longVersion}\n`);
} else if (opts.standardJson) {
  const input = fs.readFileSync(0, 'utf8');
  process.stdout.write(solc.compile(input, { import: importResolver(opts) }) + '\n');
} else {
  process.stderr.write('solc launcher: pass --version or --standard-json (input on stdin)\n');
  process.exit(2);
}

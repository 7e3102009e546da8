import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Folder boundaries: imports flow one way through the pipeline (docs/architecture.md). Each folder lists the folders
// of src/ it must not import from.
const LATER = [
  'dehydrate',
  'hydrate',
  'integrity',
  'integration',
  'manager',
  'cli',
  'stores',
  'migrate',
  'merge',
  'diff',
  'sync',
  'git',
];
const GIT_WORKFLOW = ['merge', 'diff', 'sync', 'git'];
const BOUNDARIES = {
  sqlite: ['archive', 'codec', 'files', 'manifest', 'config', ...LATER],
  codec: ['archive', 'sqlite', 'files', 'manifest', 'config', ...LATER],
  files: ['archive', 'codec', 'sqlite', 'manifest', 'config', ...LATER],
  archive: ['manifest', 'config', ...LATER],
  manifest: ['config', ...LATER],
  config: ['archive', 'manifest', ...LATER],
  stores: LATER.filter((f) => f !== 'stores'),
  dehydrate: ['hydrate', 'integrity', 'integration', 'manager', 'cli', 'stores', 'migrate', ...GIT_WORKFLOW],
  hydrate: ['dehydrate', 'integrity', 'integration', 'manager', 'cli', 'stores', 'migrate', ...GIT_WORKFLOW],
  integrity: ['dehydrate', 'integration', 'manager', 'cli', 'migrate', ...GIT_WORKFLOW],
  // Schema migrations of live databases and of databases hydrate builds: SQLite facts only.
  migrate: ['dehydrate', 'hydrate', 'integrity', 'integration', 'manager', 'cli', 'stores', ...GIT_WORKFLOW],
  // The three-way merge reads and writes archives; it learns table keys from hydrate's schema application.
  merge: [
    'dehydrate',
    'integrity',
    'integration',
    'manager',
    'cli',
    'stores',
    'migrate',
    'diff',
    'sync',
    'git',
  ],
  diff: ['integrity', 'integration', 'manager', 'cli', 'stores', 'migrate', 'sync', 'git'],
  sync: ['integrity', 'integration', 'manager', 'cli', 'migrate', 'git'],
  manager: ['integration', 'cli', 'git'],
  integration: ['cli', 'git'],
  git: ['cli'],
};

// Only the byte seam opens archive files. These are the other modules that open files, none of them an archive:
// databases' headers, the manifest, the config, package.json, backups and quarantine copies of databases, the
// repository's setup files (.gitattributes, .gitignore, hooks) and the sync state records.
const OPENS_FILES = [
  'src/archive/archive-file.ts',
  'src/files/atomic-file.ts',
  'src/manifest/manifest.ts',
  'src/config/load-config.ts',
  'src/cli/program.ts',
  'src/sqlite/file-header.ts',
  'src/integrity/sniff-file.ts',
  'src/integrity/fix-databases.ts',
  'src/integrity/quarantine.ts',
  'src/manager/backups.ts',
  'src/hydrate/build-limits.ts',
  'src/git/text-file.ts',
  'src/sync/sync-state.ts',
  'src/migrate/migrations-dir.ts',
  'src/archive/keys.ts',
  'src/sync/remote-state.ts',
  'src/cli/passphrase-prompt.ts',
  'src/dehydrate/page-hash-child.ts',
  'src/dehydrate/table-pages.ts',
  'src/sqlite/btree-hashes.ts',
  'src/sqlite/held-file.ts',
];
const FS_OPENERS = [
  'open',
  'openSync',
  'readSync',
  'readFile',
  'readFileSync',
  'writeSync',
  'writeFile',
  'writeFileSync',
  'appendFileSync',
  'copyFileSync',
  'createReadStream',
  'createWriteStream',
];
const FS_MESSAGE =
  'Open archive files only through src/archive/archive-file.ts (the byte seam); a module that opens other files is listed in OPENS_FILES in eslint.config.js.';
const fsPaths = [
  { name: 'node:fs', importNames: FS_OPENERS, message: FS_MESSAGE },
  { name: 'fs', message: 'Import node:fs.' },
  { name: 'node:fs/promises', message: FS_MESSAGE },
];

/** The no-restricted-imports rule for a folder (and for the top-level file of the same name). */
function restrictions(forbidden, fs) {
  return [
    'error',
    {
      paths: fs ? fsPaths : [],
      patterns: forbidden.flatMap((f) => [
        {
          group: [`../${f}/*`, `../${f}.js`, `./${f}/*`, `./${f}.js`, `../../${f}/*`],
          message: `src/${f} comes later in the pipeline: imports flow one way (docs/architecture.md).`,
        },
      ]),
    },
  ];
}

const boundaryConfigs = Object.entries(BOUNDARIES).flatMap(([folder, forbidden]) => {
  const files = [`src/${folder}/**/*.ts`, ...(folder === 'manager' ? ['src/manager.ts'] : [])];
  const openers = OPENS_FILES.filter((f) => files.some((g) => f.startsWith(g.replace('**/*.ts', ''))));
  return [
    { files, ignores: openers, rules: { 'no-restricted-imports': restrictions(forbidden, true) } },
    ...(openers.length > 0
      ? [{ files: openers, rules: { 'no-restricted-imports': restrictions(forbidden, false) } }]
      : []),
  ];
});

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.bench/**'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/bundle-cli.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  // Small modules and functions: a file over 400 lines or a function over 80 holds more than one job.
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  // The rest of src/ (index.ts, errors.ts, progress.ts, cli.ts) opens no files either.
  {
    files: ['src/*.ts'],
    ignores: ['src/manager.ts'],
    rules: { 'no-restricted-imports': restrictions([], true) },
  },
  {
    files: ['src/cli/**/*.ts'],
    ignores: OPENS_FILES,
    rules: { 'no-restricted-imports': restrictions([], true) },
  },
  ...boundaryConfigs,
  { files: ['eslint.config.js'], extends: [tseslint.configs.disableTypeChecked] },
);

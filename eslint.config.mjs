import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['lib/', 'dist/', 'node_modules/', 'kernel-bridge/', '**/*.js', '**/*.mjs']
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: 'error',
      'prefer-const': 'error'
    }
  },
  {
    // The engine stays pure: no DOM, HTTP or Jupyter imports.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@jupyterlab/*', '@lumino/*', 'http', 'https', 'node:http', 'node:https', 'ws'], message: 'src/engine is pure: no Jupyter, DOM or HTTP imports.' }
          ]
        }
      ]
    }
  }
);

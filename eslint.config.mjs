import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'lib/',
      'dist/',
      'node_modules/',
      'kernel-bridge/',
      '**/*.js',
      '**/*.mjs'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }
      ],
      eqeqeq: 'error',
      'prefer-const': 'error'
    }
  },
  {
    // The core is compiled into the lab bundle and the Node build alike: it imports only itself.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/__tests__/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'fs',
                'path',
                'os',
                'crypto',
                'child_process',
                'worker_threads',
                'http',
                'https',
                'ws',
                'onnxruntime-node',
                'vega',
                'vega-lite',
                '@jupyterlab/*',
                '@lumino/*'
              ],
              message:
                'src/core is browser-safe and Node-free: no Node, DOM-framework or native imports.'
            },
            {
              group: [
                '../engine/*',
                '../../engine/*',
                '../../../engine/*',
                '../sidecar/*',
                '../../sidecar/*',
                '../lab/*',
                '../../lab/*'
              ],
              message:
                'src/core imports only src/core: the engine, the sidecar and the lab import it, never the other way.'
            }
          ]
        }
      ]
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
            {
              group: [
                '@jupyterlab/*',
                '@lumino/*',
                'http',
                'https',
                'node:http',
                'node:https',
                'ws'
              ],
              message: 'src/engine is pure: no Jupyter, DOM or HTTP imports.'
            }
          ]
        }
      ]
    }
  }
);

// The engine and the sidecar run in Node: ts-jest compiles them as the Node build does. The
// lab's pure models run there too.
module.exports = {
  projects: [
    {
      displayName: 'engine',
      testEnvironment: '<rootDir>/jest/native-environment.js',
      roots: ['<rootDir>/src/core', '<rootDir>/src/engine', '<rootDir>/src/sidecar'],
      testMatch: ['**/__tests__/**/*.test.ts'],
      transform: {
        '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
      }
    },
    {
      // The lab's pure models (no DOM): the σ-sweep output's computation.
      displayName: 'lab',
      testEnvironment: 'node',
      roots: ['<rootDir>/src/lab'],
      testMatch: ['**/__tests__/**/*.test.ts'],
      transform: {
        '^.+\\.ts$': ['ts-jest', { tsconfig: 'src/lab/tsconfig.test.json' }]
      }
    }
  ]
};

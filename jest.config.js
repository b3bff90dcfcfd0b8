// The engine and the sidecar run in Node: ts-jest compiles them as the Node build does.
module.exports = {
  projects: [
    {
      displayName: 'engine',
      testEnvironment: '<rootDir>/jest/native-environment.js',
      roots: ['<rootDir>/src/engine', '<rootDir>/src/sidecar'],
      testMatch: ['**/__tests__/**/*.test.ts'],
      transform: {
        '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
      }
    }
  ]
};

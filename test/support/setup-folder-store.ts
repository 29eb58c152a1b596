// The `folder-store` jest project: the suites that run on every backend run on the folder store (jest.config.js).
process.env.TEST_STORAGE = 'folder';

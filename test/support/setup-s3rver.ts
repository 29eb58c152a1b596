// The `s3rver` jest project: the suites that run on every backend run on S3, the embedded s3rver (jest.config.js).
process.env.TEST_STORAGE = 's3rver';

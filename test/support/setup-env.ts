// Tests assert on answers, not on log lines; a test that inspects logs turns them back on itself.
process.env.LOG_LEVEL ??= 'silent';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// Every function checks its settings as its module loads (lib/config.ts), as Lambda's init does, and BUCKET has no
// default there; test files load the functions before they choose their bucket (the handlers read it at their first
// request), so they start with the one `npm start` uses.
process.env.BUCKET ||= 'recodex-fileserver';

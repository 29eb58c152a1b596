// Tests assert on answers, not on log lines; a test that inspects logs turns them back on itself.
process.env.LOG_LEVEL ??= 'silent';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

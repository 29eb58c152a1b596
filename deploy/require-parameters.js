/**
 * A local Serverless plugin: refuses to package or deploy without the parameters that keep the fileserver private
 * and closed. Without them the API would accept calls from no VPC endpoint, or every handler would fail at cold
 * start for want of credentials; an open fileserver must never be deployed by accident. It also refuses the values
 * that would only fail later: an archiver reservation that stops every build, or that the account's quota may not
 * allow (docs/deploy.md, "Parameters"). deploy/bucket-name.js refuses a bucket name S3 cannot take.
 */
class RequireParameters {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'before:package:initialize': () => this.check(),
      'before:deploy:deploy': () => this.check(),
    };
  }

  check() {
    const provider = this.serverless.service.provider;
    const problems = [];
    const parameter = provider.environment?.CREDENTIALS_PARAMETER ?? '';
    if (!parameter) {
      problems.push(
        'credentialsParameter is missing: create an SSM SecureString holding "username:password" ' +
          '(aws ssm put-parameter --type SecureString --name /recodex/fileserver/credentials --value "re:…") ' +
          'and pass --param="credentialsParameter=/recodex/fileserver/credentials".',
      );
    } else if (!/^\/[A-Za-z0-9_.\-/]+$/.test(parameter)) {
      problems.push(
        `credentialsParameter must be a full SSM parameter name starting with "/", not ${JSON.stringify(parameter)}.`,
      );
    }
    const ttl = String(provider.environment?.CREDENTIALS_TTL_SECONDS ?? '300');
    if (!/^[1-9][0-9]*$/.test(ttl)) {
      problems.push(
        `credentialsTtlSeconds must be a whole number of seconds (default 300), not ${JSON.stringify(ttl)}.`,
      );
    }
    const endpoints = (provider.vpcEndpointIds ?? []).filter((id) => typeof id === 'string' && id !== '');
    if (endpoints.length === 0 || endpoints.some((id) => !/^vpce-[0-9a-f]+$/.test(id))) {
      problems.push(
        'vpcEndpointIds is missing or malformed: pass --param="vpcEndpointIds=vpce-…", the execute-api VPC endpoint ' +
          'through which the ReCodEx API and workers reach this private API.',
      );
    }
    problems.push(...this.reservedConcurrencyProblems());
    if (problems.length > 0) {
      throw new this.serverless.classes.Error(`Refusing to package the fileserver:\n- ${problems.join('\n- ')}`);
    }
  }

  /**
   * Lambda keeps 100 of the account's concurrency unreserved, so a reservation of N needs a quota of at least N + 100;
   * a new account's quota can be lower than that, and then any reservation fails the deploy (docs/deploy.md). 0 would
   * throttle every build.
   */
  reservedConcurrencyProblems() {
    const value = this.serverless.service.functions?.archiver?.reservedConcurrency;
    if (value === undefined || value === null || value === '') return [];
    if (/^[1-9]\d*$/.test(String(value))) return [];
    return [
      `archiverReservedConcurrency must be a whole number of at least 1, not ${JSON.stringify(value)} (0 would stop ` +
        "every archive build). Leave it out to share the account's pool; a reservation of N needs an account " +
        'concurrency quota of at least N + 100 (docs/deploy.md, "Parameters").',
    ];
  }
}

module.exports = RequireParameters;

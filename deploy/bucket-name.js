/**
 * The files bucket's name (serverless.yml, `custom.bucket`), resolved as osls resolves the configuration's variables:
 * `--param="bucketName=…"` if given, or else `recodex-fileserver-<stage>-files-<account id>-<region>`.
 *
 * Bucket names are global, so the default one holds the account id and the region: two installations with the same
 * stage do not ask for the same name. Only CloudFormation knows the account (packaging needs no credentials and no
 * network), so the name holds ACCOUNT_REGION_PLACEHOLDER, which deploy/production-template.js replaces, wherever the
 * name appears in the template, with `${AWS::AccountId}-${AWS::Region}` (Fn::Sub).
 *
 * A name S3 cannot take stops packaging here, with what to do, rather than CloudFormation halfway through the first
 * deploy. (This runs before osls checks the configuration: its own check of `provider.s3`'s name would answer first,
 * without saying what to do, and counting the placeholder instead of the account and region.)
 */

/** Lowercase, and shorter than any account id and region it stands for (12 digits, a hyphen, 9 or more). */
const ACCOUNT_REGION_PLACEHOLDER = 'account-id-region';
/** S3 user guide, "General purpose bucket naming rules": 3 to 63 characters. */
const MAX_LENGTH = 63;
const ACCOUNT_ID_LENGTH = 12;

/** An error osls prints as it is (it prints the stack of any other). */
function refusal(message) {
  const error = new Error(message);
  error.stack = message;
  return error;
}

async function bucketName({ resolveVariable }) {
  const given = await resolveVariable("param:bucketName, ''");
  if (given) {
    if (given.length < 3 || given.length > MAX_LENGTH) {
      throw refusal(`bucketName must be 3 to ${MAX_LENGTH} characters long, not ${given.length} (${given}).`);
    }
    return given;
  }
  const [service, stage, region] = await Promise.all([
    resolveVariable('self:service'),
    resolveVariable('sls:stage'),
    resolveVariable('opt:region, self:provider.region'),
  ]);
  const prefix = `${service}-${stage}-files-`;
  const length = prefix.length + ACCOUNT_ID_LENGTH + 1 + region.length;
  if (length > MAX_LENGTH) {
    throw refusal(
      `the default bucket name ${prefix}<account id>-${region} would be ${length} characters, and S3 takes at most ` +
        `${MAX_LENGTH}: deploy with a shorter --stage, or name the bucket yourself with ` +
        `--param="bucketName=<3 to ${MAX_LENGTH} lowercase letters, digits and hyphens, unique across AWS>".`,
    );
  }
  return `${prefix}${ACCOUNT_REGION_PLACEHOLDER}`;
}

module.exports = bucketName;
module.exports.ACCOUNT_REGION_PLACEHOLDER = ACCOUNT_REGION_PLACEHOLDER;

/** What `npm start` prints once it serves (the bench and the tests read these lines). */
export interface StartFacts {
  url: string;
  bucket: string;
  /** The folder store's folder, or undefined on an S3 endpoint. */
  directory: string | undefined;
  s3Endpoint: string;
  temporary: boolean;
  fsync: boolean;
}

export function startLines(facts: StartFacts): string[] {
  const storage = facts.directory
    ? `the folder store, folder ${facts.directory}${facts.temporary ? ' (deleted on exit)' : ''}` +
      `${facts.fsync ? ', fsync on' : ''}`
    : `S3 endpoint ${facts.s3Endpoint}`;
  return [
    `ReCodEx fileserver listening on ${facts.url}`,
    `storage: bucket ${facts.bucket} on ${storage}`,
    'Press Ctrl-C to stop.',
  ];
}

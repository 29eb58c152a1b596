/**
 * A name no other test has used: the process, the time and a counter, so that suites sharing one bucket (LocalStack,
 * the deployed tier) or running in parallel never see each other's submissions, results or exercises. Letters,
 * digits and underscores only, so it is valid wherever a route takes an id or a file name.
 */
let counter = 0;

export function freshId(prefix = 'student'): string {
  return `${prefix}_${process.pid}_${Date.now()}_${counter++}`;
}

/**
 * Every HTTP handler by the name `serverless.yml` gives it (`handler: functions/<file>.<export>`). The local
 * server looks handlers up here, so it runs the same code with the routes of `serverless.yml` and a bundler can
 * follow every import.
 */
import type { S3Event } from 'aws-lambda';
import type { LambdaHttpHandler } from '../lib/http/handler';
import * as archiver from './archiver';
import * as archives from './archives';
import * as attachments from './attachments';
import * as exercises from './exercises';
import * as results from './results';
import * as status from './status';
import * as submissions from './submissions';
import * as uploads from './uploads';

export const httpHandlers: Record<string, LambdaHttpHandler> = {
  'functions/status.handler': status.handler,
  'functions/submissions.handler': submissions.handler,
  'functions/archives.handler': archives.handler,
  'functions/exercises.upload': exercises.upload,
  'functions/exercises.download': exercises.download,
  'functions/results.handler': results.handler,
  'functions/attachments.handler': attachments.handler,
  'functions/uploads.handler': uploads.handler,
};

/** Every S3-triggered handler by its `serverless.yml` name. */
export const s3Handlers: Record<string, (event: S3Event) => Promise<void>> = {
  'functions/archiver.handler': archiver.handler,
};

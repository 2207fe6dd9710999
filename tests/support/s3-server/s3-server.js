// SPDX-License-Identifier: MIT
// An S3 server on loopback for storage-s3's tests and benchmark: @20minutes/s3rver (a fork of
// s3rver that verifies AWS Signature Version 4, in headers and in presigned URLs) on 127.0.0.1 and
// an ephemeral port, which it prints as one line once it listens. It runs until stdin closes (its
// parent is gone) or SIGTERM.
//
//   node --openssl-legacy-provider s3-server.js --directory DIR [--bucket NAME]... [--key ID:SECRET]...
//
// (s3rver seals its continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider: without
// it every truncated listing fails with InternalError.)
// Every bucket is created at start; every key pair is accepted besides s3rver's S3RVER:S3RVER.
// Virtual-host requests go to BUCKET.s3.localhost:PORT.
'use strict';

const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

function parse(argv) {
  const options = { directory: null, buckets: [], keys: [] };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--directory' && value) options.directory = value;
    else if (argv[i] === '--bucket' && value) options.buckets.push(value);
    else if (argv[i] === '--key' && value && value.includes(':')) options.keys.push(value);
    else throw new Error(`usage: s3-server.js --directory DIR [--bucket NAME]... [--key ID:SECRET]... (at ${argv[i]})`);
    i++;
  }
  if (!options.directory) throw new Error('--directory is required');
  return options;
}

async function main() {
  const options = parse(process.argv.slice(2));
  try {
    require('crypto').createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch (error) {
    throw new Error(`DES is unavailable (${error.message}): run node with --openssl-legacy-provider`);
  }
  for (const pair of options.keys) {
    const colon = pair.indexOf(':');
    AWSAccount.DUMMY_ACCOUNT.createKeyPair(pair.slice(0, colon), pair.slice(colon + 1));
  }
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: options.directory,
    serviceEndpoint: 'localhost',
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  const { port } = await server.run();
  process.stdout.write(`${port}\n`);
  const stop = () => server.close().finally(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  process.stderr.write(`s3-server: ${error.message}\n`);
  process.exit(1);
});

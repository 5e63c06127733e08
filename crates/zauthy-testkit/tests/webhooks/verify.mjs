// The API reference's verification snippet, as written there (types stripped), run against a captured
// delivery: argv[2] = file with the raw body, argv[3] = X-Webhook-Signature, argv[4] = secret.
// Like the reference's Express handler, it verifies JSON.stringify of the parsed body. Exits 0 when valid.
import crypto from 'crypto';
import fs from 'fs';

function verifyWebhook(payload, signature, secret) {
const expected = crypto
.createHmac('sha256', secret)
.update(payload)
.digest('hex');
return crypto.timingSafeEqual(
Buffer.from(signature),
Buffer.from(expected)
);
}

const body = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let ok = false;
try {
  ok = verifyWebhook(JSON.stringify(body), process.argv[3], process.argv[4]);
} catch (e) {
  ok = false;
}
process.exit(ok ? 0 : 1);

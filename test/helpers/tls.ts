/**
 * Test certificates made with openssl: a CA, a broker certificate for 127.0.0.1 signed by it,
 * a client certificate (mutual TLS), and an unrelated CA that must not be trusted.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testTmpDir } from './env.ts'

export interface TestPki {
  dir: string
  caCert: string
  /** Broker key (PKCS#8, unencrypted) + certificate + CA, as Kafka's PEM keystore wants. */
  brokerKeystore: string
  clientCert: string
  clientKey: string
  otherCaCert: string
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

function ca (dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir)
}

function leaf (dir: string, name: string, signer: string, cn: string, ext: string): void {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir)
  writeFileSync(join(dir, `${name}.ext`), ext)
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir)
}

export function makeTestPki (): TestPki {
  const dir = testTmpDir('synthq-pki')
  ca(dir, 'test-ca')
  ca(dir, 'other-ca')
  leaf(dir, 'broker', 'test-ca', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  leaf(dir, 'client', 'test-ca', 'synthq-client', 'extendedKeyUsage=clientAuth\n')
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
  const keystore = join(dir, 'broker-keystore.pem')
  writeFileSync(keystore, read('broker.key') + read('broker.crt') + read('test-ca.crt'))
  return {
    dir,
    caCert: join(dir, 'test-ca.crt'),
    brokerKeystore: keystore,
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    otherCaCert: join(dir, 'other-ca.crt'),
  }
}

import { describeError } from '../../errors.js';
import { outcome, type PostureCheck } from '../check.js';
import type { CertificateRule } from '../config.js';
import type { CertificateInfo } from '../probes/probes.js';

const hex = (s: string): string => s.replace(/[^0-9a-f]/gi, '').toLowerCase();

export function certificateMatches(rule: CertificateRule, cert: CertificateInfo): boolean {
  if (rule.thumbprint) {
    const want = hex(rule.thumbprint);
    if (want !== cert.sha1 && want !== cert.sha256) return false;
  }
  if (rule.subject && !cert.subject.toLowerCase().includes(rule.subject.toLowerCase())) return false;
  return true;
}

export const certificates: PostureCheck = {
  id: 'certificates',
  title: 'Required certificates present',
  description: 'Certificates the policy requires (by subject or thumbprint) are installed.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'PEM certificates in the configured paths (default /etc/ssl/certs/ca-certificates.crt and /usr/local/share/ca-certificates), parsed with node:crypto',
    darwin: '`security find-certificate -a -Z -p` in the System and login keychains',
    win32: '`Get-ChildItem Cert:\\LocalMachine\\My, Cert:\\CurrentUser\\My, Cert:\\LocalMachine\\Root` via PowerShell',
  },
  remediation: {
    linux: ['Install your company\'s certificate (ask IT for the file), then run `sudo update-ca-certificates`.'],
    darwin: ['Install your company\'s certificate profile from Self Service or System Settings → Privacy & Security → Profiles.'],
    win32: ['Install your company\'s certificate from Company Portal, or ask IT to push it by policy.'],
  },
  async collect(ctx) {
    const rules = ctx.config.requiredCertificates;
    const config = { kind: 'config' as const, source: 'requiredCertificates', excerpt: JSON.stringify(rules).slice(0, 2000) };
    if (rules.length === 0) {
      return { ...outcome.pass('no required certificates are configured', { required: [] }), extraEvidence: [config] };
    }
    let certs: CertificateInfo[];
    try {
      certs = await ctx.probes.listCertificates(ctx);
    } catch (err) {
      return { ...outcome.error(`could not list certificates: ${describeError(err)}`), extraEvidence: [config] };
    }
    const required = rules.map((rule) => {
      const found = certs.find((c) => certificateMatches(rule, c));
      return {
        subject: rule.subject ?? null,
        thumbprint: rule.thumbprint ? hex(rule.thumbprint) : null,
        present: found !== undefined,
        location: found?.location ?? null,
        notAfter: found?.notAfter ?? null,
      };
    });
    const observed = { certificatesInspected: certs.length, required };
    const missing = required.filter((r) => !r.present);
    if (missing.length > 0) {
      return { ...outcome.fail(`missing: ${missing.map((m) => m.subject ?? m.thumbprint).join(', ')}`, observed), extraEvidence: [config] };
    }
    return { ...outcome.pass(`all ${rules.length} required certificates are installed`, observed), extraEvidence: [config] };
  },
};

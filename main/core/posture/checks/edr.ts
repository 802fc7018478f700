import type { PostureCheck } from '../check.js';

export const edr: PostureCheck = {
  id: 'edr',
  title: 'Endpoint detection and response',
  description: 'An EDR agent (CrowdStrike Falcon, SentinelOne, Microsoft Defender for Endpoint) is installed and running.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'processes `falcon-sensor`, `sentinel-agent`/`s1-agent`, `wdavdaemon`; `falconctl -g --rfm-state`, `mdatp health`',
    darwin: '`falconctl stats`, `sentinelctl version`, `mdatp health`; their processes',
    win32: 'services CSFalconService, SentinelAgent, Sense (Defender for Endpoint) via `sc query`',
  },
  remediation: {
    linux: ['Install your company\'s EDR agent from the IT portal, or ask IT: the sensor is missing or stopped.'],
    darwin: ['Install your company\'s EDR agent from Self Service, or ask IT: the sensor is missing or stopped.'],
    win32: ['Install your company\'s EDR agent from Company Portal, or ask IT: the sensor is missing or stopped.'],
  },
  collect: (ctx) => ctx.probes.edr(ctx),
};

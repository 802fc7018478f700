/**
 * Windows builds and the end of their security updates ("end of servicing"), from Microsoft's
 * lifecycle pages:
 * - https://learn.microsoft.com/lifecycle/products/windows-10-home-and-pro and …/windows-10-enterprise-and-education
 * - https://learn.microsoft.com/lifecycle/products/windows-11-home-and-pro and …/windows-11-enterprise-and-education
 * - https://learn.microsoft.com/windows/release-health/release-information (builds per version)
 * - Windows Server: …/lifecycle/products/windows-server-2016, -2019, -2022, -2025 (extended support)
 * Home/Pro and Enterprise/Education differ for some versions; where Ward cannot tell the edition
 * and the dates disagree, the check says unknown. LTSC/LTSB editions are not in this table.
 */
export interface WindowsBuild {
  readonly build: number;
  readonly name: string;
  /** End of servicing for Home, Pro (and Server: the extended-support end). */
  readonly consumerEnd: string;
  /** End of servicing for Enterprise and Education. */
  readonly enterpriseEnd: string;
}

export const WINDOWS_TABLE_DATE = '2025-10-01';

export const WINDOWS_CLIENT_BUILDS: readonly WindowsBuild[] = [
  { build: 10240, name: 'Windows 10 1507', consumerEnd: '2017-05-09', enterpriseEnd: '2017-05-09' },
  { build: 10586, name: 'Windows 10 1511', consumerEnd: '2017-10-10', enterpriseEnd: '2018-04-10' },
  { build: 14393, name: 'Windows 10 1607', consumerEnd: '2018-04-10', enterpriseEnd: '2019-04-09' },
  { build: 15063, name: 'Windows 10 1703', consumerEnd: '2018-10-09', enterpriseEnd: '2019-10-08' },
  { build: 16299, name: 'Windows 10 1709', consumerEnd: '2019-04-09', enterpriseEnd: '2020-10-13' },
  { build: 17134, name: 'Windows 10 1803', consumerEnd: '2019-11-12', enterpriseEnd: '2021-05-11' },
  { build: 17763, name: 'Windows 10 1809', consumerEnd: '2020-11-10', enterpriseEnd: '2021-05-11' },
  { build: 18362, name: 'Windows 10 1903', consumerEnd: '2020-12-08', enterpriseEnd: '2020-12-08' },
  { build: 18363, name: 'Windows 10 1909', consumerEnd: '2021-05-11', enterpriseEnd: '2022-05-10' },
  { build: 19041, name: 'Windows 10 2004', consumerEnd: '2021-12-14', enterpriseEnd: '2021-12-14' },
  { build: 19042, name: 'Windows 10 20H2', consumerEnd: '2022-05-10', enterpriseEnd: '2023-05-09' },
  { build: 19043, name: 'Windows 10 21H1', consumerEnd: '2022-12-13', enterpriseEnd: '2022-12-13' },
  { build: 19044, name: 'Windows 10 21H2', consumerEnd: '2023-06-13', enterpriseEnd: '2024-06-11' },
  { build: 19045, name: 'Windows 10 22H2', consumerEnd: '2025-10-14', enterpriseEnd: '2025-10-14' },
  { build: 22000, name: 'Windows 11 21H2', consumerEnd: '2023-10-10', enterpriseEnd: '2024-10-08' },
  { build: 22621, name: 'Windows 11 22H2', consumerEnd: '2024-10-08', enterpriseEnd: '2025-10-14' },
  { build: 22631, name: 'Windows 11 23H2', consumerEnd: '2025-11-11', enterpriseEnd: '2026-11-10' },
  { build: 26100, name: 'Windows 11 24H2', consumerEnd: '2026-10-13', enterpriseEnd: '2027-10-12' },
  { build: 26200, name: 'Windows 11 25H2', consumerEnd: '2027-10-12', enterpriseEnd: '2028-10-10' },
];

export const WINDOWS_SERVER_BUILDS: readonly WindowsBuild[] = [
  { build: 14393, name: 'Windows Server 2016', consumerEnd: '2027-01-12', enterpriseEnd: '2027-01-12' },
  { build: 17763, name: 'Windows Server 2019', consumerEnd: '2029-01-09', enterpriseEnd: '2029-01-09' },
  { build: 20348, name: 'Windows Server 2022', consumerEnd: '2031-10-14', enterpriseEnd: '2031-10-14' },
  { build: 26100, name: 'Windows Server 2025', consumerEnd: '2034-10-10', enterpriseEnd: '2034-10-10' },
];

/** The ~200-byte JSON the upstream answers (the payload the issue asks for). */
export const payload = JSON.stringify({
  id: 'a5c1d4e2-8f3b-4c9a-9e1d-2b7f6a0c3d18',
  name: 'soil-moisture-2019-2022',
  owner: 'alice',
  files: 3,
  size: 1935651,
  tags: ['soil', 'alpine', 'climate'],
  updated_at: '2024-05-21T09:00:00Z',
  status: 'published',
});

import { describe, expect, it } from 'vitest';
import { embeddedDataScript } from '../../local/dashboard/dashboard-data.js';

/** The first-paint data travels inside index.html: no string in it may end the script element. */
describe('dashboard data embedded in the page', () => {
  it('escapes every "<" so a runtime message cannot close the script or open another', () => {
    const data = { message: '</script><script>alert(1)</script><!--', n: 1 };
    const html = embeddedDataScript(data);
    expect(html.startsWith('<script id="dashboard-data" type="application/json">')).toBe(true);
    expect(html.endsWith('</script>')).toBe(true);
    const body = html.slice(html.indexOf('>') + 1, -'</script>'.length);
    expect(body).not.toContain('<');
    expect(JSON.parse(body)).toEqual(data);
  });
});

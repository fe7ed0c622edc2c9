// The copy button on the "token created" page. The token is already on the page (shown once);
// this only puts it on the clipboard.
import { byId } from './dom.js';

const field = byId('token-secret', HTMLInputElement);
const status = byId('copy-status', HTMLElement);
byId('copy-token', HTMLButtonElement).addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = 'Copied.';
  } catch {
    // No clipboard permission (an http origin, a locked-down browser): leave it selected.
    field.select();
    status.textContent = 'Select the token and copy it (Ctrl+C).';
  }
});

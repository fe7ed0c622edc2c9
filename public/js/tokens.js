// The copy button on the "token created" page. The token is already on the page (shown once);
// this only puts it on the clipboard.
for (const button of document.querySelectorAll('[data-copy]')) {
  button.addEventListener('click', async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById('copy-status');
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = 'Copied.';
    } catch {
      field.select();
      if (status) status.textContent = 'Select the token and copy it (Ctrl+C).';
    }
  });
}

// Shows every <time datetime="…"> in the reader's own time zone and language; the server
// writes ISO 8601 (UTC), which stays the text when scripts are off.
for (const element of document.querySelectorAll('time[datetime]')) {
  const date = new Date(element.getAttribute('datetime'));
  if (!Number.isNaN(date.getTime())) {
    element.title = element.getAttribute('datetime');
    element.textContent = date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
}

// Shows every <time datetime="…"> in the reader's own time zone and language; the server
// writes ISO 8601 (UTC), which stays the text when scripts are off.
for (const element of /** @type {NodeListOf<HTMLTimeElement>} */ (document.querySelectorAll('time[datetime]'))) {
  const date = new Date(element.dateTime);
  if (!Number.isNaN(date.getTime())) {
    element.title = element.dateTime;
    element.textContent = date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
}

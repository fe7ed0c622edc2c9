// Write access to Renku projects, asked for one project at a time: the one the user picks.
// Asking for every project up front cost one call per project (hundreds, at a hosted Renku's
// distance) before the list could be shown. Each answer is remembered for the page, so a
// project picked twice is asked about once.

/** @import { WriteAccess } from './types.js' */

/**
 * Remembers the answers of `canWrite(projectId)` (renku-client.js's, in the page). Two picks
 * of one project while its question is on its way share the one call; a failed question is
 * forgotten, so picking the project again asks again.
 * @param {(projectId: string) => Promise<boolean>} canWrite
 */
export function rememberedWriteAccess(canWrite) {
  /** @type {Map<string, Promise<boolean>>} */
  const asked = new Map();
  /** @type {Map<string, boolean>} */
  const answers = new Map();

  return {
    /**
     * Whether the user may write to the project, asking Renku only the first time.
     * @param {string} projectId
     * @returns {Promise<boolean>}
     */
    writable(projectId) {
      let question = asked.get(projectId);
      if (!question) {
        question = canWrite(projectId).then(
          (writable) => {
            answers.set(projectId, writable);
            return writable;
          },
          (error) => {
            asked.delete(projectId);
            throw error;
          },
        );
        asked.set(projectId, question);
      }
      return question;
    },

    /**
     * What is known now, without asking.
     * @param {string} projectId
     * @returns {WriteAccess}
     */
    known(projectId) {
      const answer = answers.get(projectId);
      if (answer !== undefined) return answer ? 'writable' : 'read-only';
      return asked.has(projectId) ? 'checking' : 'unknown';
    },
  };
}

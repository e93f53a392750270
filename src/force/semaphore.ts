/** The scheduler's job slots: the one counting semaphore lives with the other concurrency helpers. */
export { Semaphore } from '../store/concurrency.js';

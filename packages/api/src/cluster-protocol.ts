/** Messages between a cluster worker and the primary (kept apart so the primary loads no web stack). */
export const METRICS_REQUEST = 'refund-vision:metrics';
export const METRICS_REPLY = 'refund-vision:metrics-reply';

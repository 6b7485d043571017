/**
 * One synthetic answer with a known truth, for calibration tests: logits z uniform in ±spread/2,
 * the true class y drawn from softmax(z), and the "net" answering softmax(sharpen·z), so it is
 * overconfident by T = sharpen.
 */
export function drawnAnswer(rand: () => number, spread: number, sharpen: number, k = 10): { answer: number[]; y: number } {
  const z = Array.from({ length: k }, () => (rand() - 0.5) * spread);
  const e = z.map((v) => Math.exp(v));
  let u = rand() * e.reduce((a, b) => a + b, 0);
  let y = 0;
  while (u > e[y]! && y < k - 1) u -= e[y++]!;
  const answer = z.map((v) => Math.exp(sharpen * v));
  const total = answer.reduce((a, b) => a + b, 0);
  return { answer: answer.map((v) => v / total), y };
}

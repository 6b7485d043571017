/** What a model card records about the members of a combined ensemble (read without TensorFlow.js). */

export type MemberRecord = { version: string; testAccuracy?: number; training: Record<string, unknown> };

/**
 * The members a combined model was made of, from its card: `pnpm train:ensemble` records them in
 * `training.members`, and every recalibration or fine-tune since keeps that record under
 * `training.initFrom.training`.
 */
export function ensembleMembersOf(card: unknown): MemberRecord[] | undefined {
  for (let t = (card as Record<string, any>)?.training; t; t = t.initFrom?.training)
    if (Array.isArray(t.members) && t.members.length >= 2) return t.members as MemberRecord[];
  return undefined;
}

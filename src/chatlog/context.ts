import type { ChatMessage } from './schema.js';

export interface MemberPersona {
  name: string;
  llm_model: string;
  system_prompt: string | null;
  personality_traits: string[] | null;
  expertise_areas: string[] | null;
}

export interface LlmContext {
  model: string;
  system: string;
  messages: Array<{ role: 'user' | 'assistant'; content: string }>;
}

/**
 * What a bot needs to answer as an AI member, in the shape LLM APIs take: the member's model,
 * its system prompt with its personality and expertise woven in, and the session's latest turns
 * oldest first. The member's own replies are `assistant` turns; everyone else's are `user`
 * turns, prefixed with the speaker's name. The oldest turns go first when over budget.
 */
export function buildContext(member: MemberPersona, latestFirst: readonly ChatMessage[], budget: { maxChars: number }): LlmContext {
  const parts = [member.system_prompt?.trim() || `You are ${member.name}, a member of VECR Garage.`];
  if (member.personality_traits?.length) parts.push(`Your personality: ${member.personality_traits.join(', ')}.`);
  if (member.expertise_areas?.length) parts.push(`Your areas of expertise: ${member.expertise_areas.join(', ')}.`);

  const turns: LlmContext['messages'] = [];
  let chars = 0;
  for (const message of latestFirst) {
    if (message.role === 'system') continue;
    const own = message.speaker_type === 'virtual' && message.speaker_name === member.name;
    const turn = own
      ? { role: 'assistant' as const, content: message.content }
      : { role: 'user' as const, content: `${message.speaker_name}: ${message.content}` };
    if (chars + turn.content.length > budget.maxChars) break;
    chars += turn.content.length;
    turns.push(turn);
  }
  return { model: member.llm_model, system: parts.join('\n\n'), messages: turns.reverse() };
}

/**
 * The response prompt: a responder model answers an instruction of the sample. By default it
 * sees the instruction alone — the document that grounded the instruction is not shown, as a
 * user asking the question would not show it; the instruction already quotes what it needs.
 * With `showDocument` it also sees what the sample row keeps of that document: its title and
 * URL and the details copied from it (`query_compositions.extra_information`). Each version is a
 * file of its own under prompts/ (listed, with the live one, in ../prompts.ts).
 */
export interface ResponseInput {
  instruction: string
  /** What the responder is shown of the grounding document, when `showDocument` is on. */
  material?: { title: string | null, url: string | null, details: string }
}

export interface ResponseAnswer { assistant_response: string }

export { RESPONSE_V1 as RESPONSE_PROMPT } from './prompts/response.v1.ts'

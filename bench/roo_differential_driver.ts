// The node side of bench/roo_differential.py: Roo Code's own parsers, run on the cases it writes.
//
// bench/roo_differential.py bundles this file with esbuild, resolving "roo-src/..." to the src/ folder
// of the Roo Code checkout the user names and "@roo-code/types" to that checkout's packages/types, so
// nothing of Roo's lives in this repository. Usage (of the bundle): node driver.js CASES.jsonl OUT.jsonl
//
// Each input line: {"id", "text", "chunks": [sizes in UTF-16 units], "think": bool, "oneshot": bool}.
// Each output line: the blocks of AssistantMessageParser fed those chunks then finalized (what Roo's
// Task runs), of parseAssistantMessage and parseAssistantMessageV2 on the whole text (unless
// "oneshot" is false: they are slow on long messages), and, for think cases, the
// (reasoning, text) split of XmlMatcher("think") fed the same chunks. The first output line lists
// Roo's tool and parameter names.
import { readFileSync, writeFileSync } from "node:fs"

import { toolNames } from "@roo-code/types"
import { toolParamNames } from "roo-src/shared/tools"
import { AssistantMessageParser } from "roo-src/core/assistant-message/AssistantMessageParser"
import { parseAssistantMessage } from "roo-src/core/assistant-message/parseAssistantMessage"
import { parseAssistantMessageV2 } from "roo-src/core/assistant-message/parseAssistantMessageV2"
import { XmlMatcher } from "roo-src/utils/xml-matcher"

type Block = { type: string; content?: string; name?: string; params?: Record<string, string> }

function plain(blocks: Block[]): unknown[] {
	return blocks.map((b) => (b.type === "text" ? ["text", b.content] : ["tool_use", b.name, { ...b.params }]))
}

function pieces(text: string, sizes: number[]): string[] {
	const out: string[] = []
	let i = 0
	for (const n of sizes) {
		out.push(text.slice(i, i + n))
		i += n
	}
	out.push(text.slice(i))
	return out
}

function attempt(fn: () => unknown): unknown {
	try {
		return fn()
	} catch (e) {
		return { error: String(e) }
	}
}

const [inPath, outPath] = process.argv.slice(2)
const lines: string[] = [JSON.stringify({ tools: toolNames, params: toolParamNames })]
for (const line of readFileSync(inPath, "utf8").split("\n")) {
	if (!line) continue
	const c = JSON.parse(line) as { id: string; text: string; chunks: number[]; think?: boolean; oneshot?: boolean }
	const parts = pieces(c.text, c.chunks)
	const rec: Record<string, unknown> = { id: c.id }
	if (c.think) {
		rec.think = attempt(() => {
			const m = new XmlMatcher("think")
			const got = parts.flatMap((p) => m.update(p)).concat(m.final())
			const pick = (want: boolean) => got.filter((r) => r.matched === want).map((r) => r.data).join("")
			return [pick(true), pick(false)]
		})
	} else {
		rec.stream = attempt(() => {
			const p = new AssistantMessageParser()
			for (const part of parts) p.processChunk(part)
			p.finalizeContentBlocks()
			return plain(p.getContentBlocks() as Block[])
		})
		if (c.oneshot !== false) {
			rec.v1 = attempt(() => plain(parseAssistantMessage(c.text) as Block[]))
			rec.v2 = attempt(() => plain(parseAssistantMessageV2(c.text) as Block[]))
		}
	}
	lines.push(JSON.stringify(rec))
}
writeFileSync(outPath, lines.join("\n") + "\n")

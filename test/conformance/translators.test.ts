// Every chat translator pair through the one Translator contract (translator.case.ts).
import { translatorContract } from './translator.case.js';

translatorContract('openai-openai', { answerCase: 'text', streamCase: 'stream-tools' });
translatorContract('openai-anthropic', { answerCase: 'text-cached', streamCase: 'stream-parallel-tools' });
translatorContract('anthropic-openai', { answerCase: 'tools-roundtrip', streamCase: 'stream-parallel-tools' });
translatorContract('anthropic-anthropic', { answerCase: 'cache-control', streamCase: 'stream-text' });

export interface Greeting {
  message: string;
  shouted: boolean;
}

export function greeting(word: string, name: string): Greeting {
  return { message: `${word.toUpperCase()}, ${name.toUpperCase()}!`, shouted: true };
}

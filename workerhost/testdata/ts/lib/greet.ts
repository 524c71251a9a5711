export interface Greeting {
  message: string;
  length: number;
}

export function greet(greeting: string, name: string): Greeting {
  const message = `${greeting}, ${name}!`;
  return { message, length: message.length };
}

export function mustBePositive(n: number): number {
  if (!(n > 0)) {
    throw new RangeError(`not positive: ${n}`);
  }
  return n;
}

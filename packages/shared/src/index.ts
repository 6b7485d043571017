export * from './classes.ts';
export * from './contract.ts';
export * from './errors.ts';
export * from './config.ts';
export * from './logger.ts';
export * from './model-card.ts';
export * from './random.ts';
export * from './csv.ts';

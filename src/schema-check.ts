// Checking a value against a JSON schema, compiled once with Ajv. A failure is reported in the
// words of the schema's own `errorMessage` annotation, so a schema is both the check and the text
// a client reads when it fails.
import { Ajv, type ErrorObject } from 'ajv';
import type { TSchema } from 'typebox';

/**
 * `errorMessage` on a schema: the text of any failure at that schema, or one text per keyword.
 * `{field}` stands for the failing field's path (`signedPreKey.keyId`, `preKeys[3].publicKey`).
 */
export type ErrorMessage = string | Record<string, string>;

export interface SchemaFailure {
  /** The JSON Schema keyword that failed (`type`, `pattern`, `maxItems`, …). */
  keyword: string;
  message: string;
}

export type SchemaCheck = (value: unknown) => SchemaFailure | null;

// A check never changes what it checks (no defaults, coercion or removal): signatures cover
// bodies exactly as received. The first failure is enough, so Ajv stops there.
const ajv = new Ajv({ verbose: true });
ajv.addKeyword({ keyword: 'errorMessage', schemaType: ['string', 'object'] });

function fieldName(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

function describe(error: ErrorObject): SchemaFailure {
  let path = error.instancePath;
  let schema = error.parentSchema as { errorMessage?: ErrorMessage } | undefined;
  // A missing property is described by the property's own schema.
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    path += `/${missing}`;
    schema = (schema as { properties: Record<string, typeof schema> }).properties[missing];
  }
  const own = schema?.errorMessage;
  const text = typeof own === 'string' ? own : own?.[error.keyword];
  const field = fieldName(path);
  return {
    keyword: error.keyword,
    message:
      text?.replace('{field}', field) ?? `${field || 'value'} ${error.message ?? 'is invalid'}`,
  };
}

/** Compiles `schema` once; the check returns null when a value conforms, else its first failure. */
export function compileCheck(schema: TSchema): SchemaCheck {
  const validate = ajv.compile(schema as object);
  return (value) => (validate(value) ? null : describe(validate.errors![0]!));
}

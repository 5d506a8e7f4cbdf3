//! Expected encodings, produced by Node.js 20 (`Buffer#toString("base64")`,
//! `toString("base64url")`, `encodeURIComponent`, `JSON.stringify`) with
//! the script at the end of this file. The tests do not need Node.

/// (prefix, suffix, base64 of prefix+value+suffix, base64url (unpadded) of it)
pub type Base64Row = (&'static [u8], &'static [u8], &'static [u8], &'static [u8]);

pub struct Fixture {
    pub value: &'static [u8],
    pub uri: &'static [u8],
    /// With the surrounding quotes.
    pub json: &'static [u8],
    pub base64: &'static [Base64Row],
}

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        value: b"hello world",
        uri: b"hello%20world",
        json: b"\x22hello world\x22",
        base64: &[
        (b"", b"", b"aGVsbG8gd29ybGQ=", b"aGVsbG8gd29ybGQ"),
        (b"", b"Q", b"aGVsbG8gd29ybGRR", b"aGVsbG8gd29ybGRR"),
        (b"", b"QQ", b"aGVsbG8gd29ybGRRUQ==", b"aGVsbG8gd29ybGRRUQ"),
        (b"Z", b"", b"WmhlbGxvIHdvcmxk", b"WmhlbGxvIHdvcmxk"),
        (b"Z", b"Q", b"WmhlbGxvIHdvcmxkUQ==", b"WmhlbGxvIHdvcmxkUQ"),
        (b"Z", b"QQ", b"WmhlbGxvIHdvcmxkUVE=", b"WmhlbGxvIHdvcmxkUVE"),
        (b"ZZ", b"", b"WlpoZWxsbyB3b3JsZA==", b"WlpoZWxsbyB3b3JsZA"),
        (b"ZZ", b"Q", b"WlpoZWxsbyB3b3JsZFE=", b"WlpoZWxsbyB3b3JsZFE"),
        (b"ZZ", b"QQ", b"WlpoZWxsbyB3b3JsZFFR", b"WlpoZWxsbyB3b3JsZFFR"),
        ],
    },
    Fixture {
        value: b"p@ss/w0rd+?=&x",
        uri: b"p%40ss%2Fw0rd%2B%3F%3D%26x",
        json: b"\x22p@ss/w0rd+?=&x\x22",
        base64: &[
        (b"", b"", b"cEBzcy93MHJkKz89Jng=", b"cEBzcy93MHJkKz89Jng"),
        (b"", b"Q", b"cEBzcy93MHJkKz89JnhR", b"cEBzcy93MHJkKz89JnhR"),
        (b"", b"QQ", b"cEBzcy93MHJkKz89JnhRUQ==", b"cEBzcy93MHJkKz89JnhRUQ"),
        (b"Z", b"", b"WnBAc3MvdzByZCs/PSZ4", b"WnBAc3MvdzByZCs_PSZ4"),
        (b"Z", b"Q", b"WnBAc3MvdzByZCs/PSZ4UQ==", b"WnBAc3MvdzByZCs_PSZ4UQ"),
        (b"Z", b"QQ", b"WnBAc3MvdzByZCs/PSZ4UVE=", b"WnBAc3MvdzByZCs_PSZ4UVE"),
        (b"ZZ", b"", b"WlpwQHNzL3cwcmQrPz0meA==", b"WlpwQHNzL3cwcmQrPz0meA"),
        (b"ZZ", b"Q", b"WlpwQHNzL3cwcmQrPz0meFE=", b"WlpwQHNzL3cwcmQrPz0meFE"),
        (b"ZZ", b"QQ", b"WlpwQHNzL3cwcmQrPz0meFFR", b"WlpwQHNzL3cwcmQrPz0meFFR"),
        ],
    },
    Fixture {
        value: b"\xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9-s\xe2\x82\xacret",
        uri: b"%C3%BCn%C3%AFc%C3%B6d%C3%A9-s%E2%82%ACret",
        json: b"\x22\xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9-s\xe2\x82\xacret\x22",
        base64: &[
        (b"", b"", b"w7xuw69jw7Zkw6ktc+KCrHJldA==", b"w7xuw69jw7Zkw6ktc-KCrHJldA"),
        (b"", b"Q", b"w7xuw69jw7Zkw6ktc+KCrHJldFE=", b"w7xuw69jw7Zkw6ktc-KCrHJldFE"),
        (b"", b"QQ", b"w7xuw69jw7Zkw6ktc+KCrHJldFFR", b"w7xuw69jw7Zkw6ktc-KCrHJldFFR"),
        (b"Z", b"", b"WsO8bsOvY8O2ZMOpLXPigqxyZXQ=", b"WsO8bsOvY8O2ZMOpLXPigqxyZXQ"),
        (b"Z", b"Q", b"WsO8bsOvY8O2ZMOpLXPigqxyZXRR", b"WsO8bsOvY8O2ZMOpLXPigqxyZXRR"),
        (b"Z", b"QQ", b"WsO8bsOvY8O2ZMOpLXPigqxyZXRRUQ==", b"WsO8bsOvY8O2ZMOpLXPigqxyZXRRUQ"),
        (b"ZZ", b"", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0"),
        (b"ZZ", b"Q", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0UQ==", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0UQ"),
        (b"ZZ", b"QQ", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0UVE=", b"WlrDvG7Dr2PDtmTDqS1z4oKscmV0UVE"),
        ],
    },
    Fixture {
        value: b"line1\x0aline2\x0d\x0a\x22quoted\x22 \x5c back\x09tab\x01\x1f\x08\x0c/",
        uri: b"line1%0Aline2%0D%0A%22quoted%22%20%5C%20back%09tab%01%1F%08%0C%2F",
        json: b"\x22line1\x5cnline2\x5cr\x5cn\x5c\x22quoted\x5c\x22 \x5c\x5c back\x5cttab\x5cu0001\x5cu001f\x5cb\x5cf/\x22",
        base64: &[
        (b"", b"", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgMLw==", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgMLw"),
        (b"", b"Q", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgML1E=", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgML1E"),
        (b"", b"QQ", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgML1FR", b"bGluZTEKbGluZTINCiJxdW90ZWQiIFwgYmFjawl0YWIBHwgML1FR"),
        (b"Z", b"", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC8=", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC8"),
        (b"Z", b"Q", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC9R", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC9R"),
        (b"Z", b"QQ", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC9RUQ==", b"WmxpbmUxCmxpbmUyDQoicXVvdGVkIiBcIGJhY2sJdGFiAR8IDC9RUQ"),
        (b"ZZ", b"", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwv", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwv"),
        (b"ZZ", b"Q", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwvUQ==", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwvUQ"),
        (b"ZZ", b"QQ", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwvUVE=", b"WlpsaW5lMQpsaW5lMg0KInF1b3RlZCIgXCBiYWNrCXRhYgEfCAwvUVE"),
        ],
    },
    Fixture {
        value: b"~!*'()-_.AZaz09",
        uri: b"~!*'()-_.AZaz09",
        json: b"\x22~!*'()-_.AZaz09\x22",
        base64: &[
        (b"", b"", b"fiEqJygpLV8uQVphejA5", b"fiEqJygpLV8uQVphejA5"),
        (b"", b"Q", b"fiEqJygpLV8uQVphejA5UQ==", b"fiEqJygpLV8uQVphejA5UQ"),
        (b"", b"QQ", b"fiEqJygpLV8uQVphejA5UVE=", b"fiEqJygpLV8uQVphejA5UVE"),
        (b"Z", b"", b"Wn4hKicoKS1fLkFaYXowOQ==", b"Wn4hKicoKS1fLkFaYXowOQ"),
        (b"Z", b"Q", b"Wn4hKicoKS1fLkFaYXowOVE=", b"Wn4hKicoKS1fLkFaYXowOVE"),
        (b"Z", b"QQ", b"Wn4hKicoKS1fLkFaYXowOVFR", b"Wn4hKicoKS1fLkFaYXowOVFR"),
        (b"ZZ", b"", b"Wlp+ISonKCktXy5BWmF6MDk=", b"Wlp-ISonKCktXy5BWmF6MDk"),
        (b"ZZ", b"Q", b"Wlp+ISonKCktXy5BWmF6MDlR", b"Wlp-ISonKCktXy5BWmF6MDlR"),
        (b"ZZ", b"QQ", b"Wlp+ISonKCktXy5BWmF6MDlRUQ==", b"Wlp-ISonKCktXy5BWmF6MDlRUQ"),
        ],
    },
    Fixture {
        value: b">>>???>>>",
        uri: b"%3E%3E%3E%3F%3F%3F%3E%3E%3E",
        json: b"\x22>>>???>>>\x22",
        base64: &[
        (b"", b"", b"Pj4+Pz8/Pj4+", b"Pj4-Pz8_Pj4-"),
        (b"", b"Q", b"Pj4+Pz8/Pj4+UQ==", b"Pj4-Pz8_Pj4-UQ"),
        (b"", b"QQ", b"Pj4+Pz8/Pj4+UVE=", b"Pj4-Pz8_Pj4-UVE"),
        (b"Z", b"", b"Wj4+Pj8/Pz4+Pg==", b"Wj4-Pj8_Pz4-Pg"),
        (b"Z", b"Q", b"Wj4+Pj8/Pz4+PlE=", b"Wj4-Pj8_Pz4-PlE"),
        (b"Z", b"QQ", b"Wj4+Pj8/Pz4+PlFR", b"Wj4-Pj8_Pz4-PlFR"),
        (b"ZZ", b"", b"Wlo+Pj4/Pz8+Pj4=", b"Wlo-Pj4_Pz8-Pj4"),
        (b"ZZ", b"Q", b"Wlo+Pj4/Pz8+Pj5R", b"Wlo-Pj4_Pz8-Pj5R"),
        (b"ZZ", b"QQ", b"Wlo+Pj4/Pz8+Pj5RUQ==", b"Wlo-Pj4_Pz8-Pj5RUQ"),
        ],
    },
];

// The generator (node gen.js):
// const values = ["hello world", "p@ss/w0rd+?=&x", "\u00fcn\u00efc\u00f6d\u00e9-s\u20acret", "line1\nline2\r\n\"quoted\" \\ back\ttab\u0001\u001f\b\f/", "~!*'()-_.AZaz09", ">>>???>>>"];
// const rs = s => '"' + [...Buffer.from(s)].map(b => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2,'0')).join('') + '"';
// let out = [];
// for (const v of values) {
//   const enc = [];
//   for (const p of ["", "Z", "ZZ"]) for (const s of ["", "Q", "QQ"]) {
//     const b = Buffer.concat([Buffer.from(p), Buffer.from(v), Buffer.from(s)]);
//     enc.push(`        (${rs(p)}, ${rs(s)}, ${rs(b.toString('base64'))}, ${rs(b.toString('base64url'))}),`);
//   }
//   out.push(`    Fixture {\n        value: b${rs(v)},\n        uri: b${rs(encodeURIComponent(v))},\n        json: b${rs(JSON.stringify(v))},\n        base64: &[\n${enc.map(e=>e.replace(/\(("[^"]*")/, '(b$1').replace(/, ("[^"]*"), /, ', b$1, ').replace(/, ("[^"]*"), ("[^"]*")\)/, ', b$1, b$2)')).join('\n')}\n        ],\n    },`);
// }
// console.log(out.join('\n'));

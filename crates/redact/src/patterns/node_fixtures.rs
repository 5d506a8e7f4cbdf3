//! Expected encodings, produced by Node.js 20 (`Buffer#toString("base64")`,
//! `toString("base64url")`, `encodeURIComponent`, `JSON.stringify`) with
//! the script after [`FIXTURES`]; and what Node prints for a value in its
//! other forms ([`NODE_FORMS`], script at the end). The tests do not need
//! Node.

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

/// A value as Node 20 prints it: `util.inspect` (quotes included), the
/// inside of `JSON.stringify`, of `JSON.stringify` twice, and of
/// `JSON.stringify` with non-ASCII as `\u` escapes; `URLSearchParams`,
/// `encodeURI`, a WHATWG URL's query (`url.search = ...`) and password
/// (`url.password = ...`); `buf.toString("hex")`, and the bytes of
/// `util.inspect(buf)` (at most 50 of them).
pub struct NodeForms {
    pub value: &'static [u8],
    pub inspect: &'static [u8],
    pub json: &'static [u8],
    pub json_json: &'static [u8],
    pub json_ascii: &'static [u8],
    pub form: &'static [u8],
    pub uri: &'static [u8],
    pub query: &'static [u8],
    pub password: &'static [u8],
    pub hex: &'static [u8],
    pub buffer: &'static [u8],
}

pub const NODE_FORMS: &[NodeForms] = &[
    NodeForms {
        value: b"hello world",
        inspect: b"'hello world'",
        json: b"hello world",
        json_json: b"hello world",
        json_ascii: b"hello world",
        form: b"hello+world",
        uri: b"hello%20world",
        query: b"hello%20world",
        password: b"hello%20world",
        hex: b"68656c6c6f20776f726c64",
        buffer: b"68 65 6c 6c 6f 20 77 6f 72 6c 64",
    },
    NodeForms {
        value: b"p@ss/w0rd+?=&x",
        inspect: b"'p@ss/w0rd+?=&x'",
        json: b"p@ss/w0rd+?=&x",
        json_json: b"p@ss/w0rd+?=&x",
        json_ascii: b"p@ss/w0rd+?=&x",
        form: b"p%40ss%2Fw0rd%2B%3F%3D%26x",
        uri: b"p@ss/w0rd+?=&x",
        query: b"p@ss/w0rd+?=&x",
        password: b"p%40ss%2Fw0rd+%3F%3D&x",
        hex: b"704073732f773072642b3f3d2678",
        buffer: b"70 40 73 73 2f 77 30 72 64 2b 3f 3d 26 78",
    },
    NodeForms {
        value: b"sk-live-Ab3\x5cx'y\x22z \xc3\xa9/+=&%?#<>`{}|^[]~!*()$,;:@ tail",
        inspect: b"'sk-live-Ab3\x5c\x5cx\x5c'y\x22z \xc3\xa9/+=&%?#<>`{}|^[]~!*()$,;:@ tail'",
        json: b"sk-live-Ab3\x5c\x5cx'y\x5c\x22z \xc3\xa9/+=&%?#<>`{}|^[]~!*()$,;:@ tail",
        json_json: b"sk-live-Ab3\x5c\x5c\x5c\x5cx'y\x5c\x5c\x5c\x22z \xc3\xa9/+=&%?#<>`{}|^[]~!*()$,;:@ tail",
        json_ascii: b"sk-live-Ab3\x5c\x5cx'y\x5c\x22z \x5cu00e9/+=&%?#<>`{}|^[]~!*()$,;:@ tail",
        form: b"sk-live-Ab3%5Cx%27y%22z+%C3%A9%2F%2B%3D%26%25%3F%23%3C%3E%60%7B%7D%7C%5E%5B%5D%7E%21*%28%29%24%2C%3B%3A%40+tail",
        uri: b"sk-live-Ab3%5Cx'y%22z%20%C3%A9/+=&%25?#%3C%3E%60%7B%7D%7C%5E%5B%5D~!*()$,;:@%20tail",
        query: b"sk-live-Ab3\x5cx%27y%22z%20%C3%A9/+=&%?%23%3C%3E`{}|^[]~!*()$,;:@%20tail",
        password: b"sk-live-Ab3%5Cx'y%22z%20%C3%A9%2F+%3D&%%3F%23%3C%3E%60%7B%7D%7C%5E%5B%5D~!*()$,%3B%3A%40%20tail",
        hex: b"736b2d6c6976652d4162335c782779227a20c3a92f2b3d26253f233c3e607b7d7c5e5b5d7e212a2829242c3b3a40207461696c",
        buffer: b"73 6b 2d 6c 69 76 65 2d 41 62 33 5c 78 27 79 22 7a 20 c3 a9 2f 2b 3d 26 25 3f 23 3c 3e 60 7b 7d 7c 5e 5b 5d 7e 21 2a 28 29 24 2c 3b 3a 40 20 74 61 69",
    },
    NodeForms {
        value: b"it's \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        inspect: b"\x22it's \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\x22",
        json: b"it's \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        json_json: b"it's \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        json_ascii: b"it's \x5cu00fcn\x5cu00efc\x5cu00f6d\x5cu00e9 \x5cu20ac \x5cud83d\x5cude00",
        form: b"it%27s+%C3%BCn%C3%AFc%C3%B6d%C3%A9+%E2%82%AC+%F0%9F%98%80",
        uri: b"it's%20%C3%BCn%C3%AFc%C3%B6d%C3%A9%20%E2%82%AC%20%F0%9F%98%80",
        query: b"it%27s%20%C3%BCn%C3%AFc%C3%B6d%C3%A9%20%E2%82%AC%20%F0%9F%98%80",
        password: b"it's%20%C3%BCn%C3%AFc%C3%B6d%C3%A9%20%E2%82%AC%20%F0%9F%98%80",
        hex: b"6974277320c3bc6ec3af63c3b664c3a920e282ac20f09f9880",
        buffer: b"69 74 27 73 20 c3 bc 6e c3 af 63 c3 b6 64 c3 a9 20 e2 82 ac 20 f0 9f 98 80",
    },
    NodeForms {
        value: b"line 'one'\x0aline \x22two\x22\x09\x5cend\x0b\x7f\xc2\x85\xc2\x9f\xc2\xa0",
        inspect: b"`line 'one'\x5cnline \x22two\x22\x5ct\x5c\x5cend\x5cx0B\x5cx7F\x5cx85\x5cx9F\xc2\xa0`",
        json: b"line 'one'\x5cnline \x5c\x22two\x5c\x22\x5ct\x5c\x5cend\x5cu000b\x7f\xc2\x85\xc2\x9f\xc2\xa0",
        json_json: b"line 'one'\x5c\x5cnline \x5c\x5c\x5c\x22two\x5c\x5c\x5c\x22\x5c\x5ct\x5c\x5c\x5c\x5cend\x5c\x5cu000b\x7f\xc2\x85\xc2\x9f\xc2\xa0",
        json_ascii: b"line 'one'\x5cnline \x5c\x22two\x5c\x22\x5ct\x5c\x5cend\x5cu000b\x7f\x5cu0085\x5cu009f\x5cu00a0",
        form: b"line+%27one%27%0Aline+%22two%22%09%5Cend%0B%7F%C2%85%C2%9F%C2%A0",
        uri: b"line%20'one'%0Aline%20%22two%22%09%5Cend%0B%7F%C2%85%C2%9F%C2%A0",
        query: b"line%20%27one%27line%20%22two%22\x5cend%0B%7F%C2%85%C2%9F%C2%A0",
        password: b"line%20'one'%0Aline%20%22two%22%09%5Cend%0B%7F%C2%85%C2%9F%C2%A0",
        hex: b"6c696e6520276f6e65270a6c696e65202274776f22095c656e640b7fc285c29fc2a0",
        buffer: b"6c 69 6e 65 20 27 6f 6e 65 27 0a 6c 69 6e 65 20 22 74 77 6f 22 09 5c 65 6e 64 0b 7f c2 85 c2 9f c2 a0",
    },
    NodeForms {
        value: b"both ' and \x22 and ` here",
        inspect: b"'both \x5c' and \x22 and ` here'",
        json: b"both ' and \x5c\x22 and ` here",
        json_json: b"both ' and \x5c\x5c\x5c\x22 and ` here",
        json_ascii: b"both ' and \x5c\x22 and ` here",
        form: b"both+%27+and+%22+and+%60+here",
        uri: b"both%20'%20and%20%22%20and%20%60%20here",
        query: b"both%20%27%20and%20%22%20and%20`%20here",
        password: b"both%20'%20and%20%22%20and%20%60%20here",
        hex: b"626f7468202720616e64202220616e6420602068657265",
        buffer: b"62 6f 74 68 20 27 20 61 6e 64 20 22 20 61 6e 64 20 60 20 68 65 72 65",
    },
    NodeForms {
        value: b"\x00\x01\x1f\x08\x0c\x0d",
        inspect: b"'\x5cx00\x5cx01\x5cx1F\x5cb\x5cf\x5cr'",
        json: b"\x5cu0000\x5cu0001\x5cu001f\x5cb\x5cf\x5cr",
        json_json: b"\x5c\x5cu0000\x5c\x5cu0001\x5c\x5cu001f\x5c\x5cb\x5c\x5cf\x5c\x5cr",
        json_ascii: b"\x5cu0000\x5cu0001\x5cu001f\x5cb\x5cf\x5cr",
        form: b"%00%01%1F%08%0C%0D",
        uri: b"%00%01%1F%08%0C%0D",
        query: b"%00%01%1F%08%0C",
        password: b"%00%01%1F%08%0C%0D",
        hex: b"00011f080c0d",
        buffer: b"00 01 1f 08 0c 0d",
    },
];

// // Generates NODE_FORMS for crates/redact/src/patterns/node_fixtures.rs.
// const util = require('util');
// const values = [
//   "hello world",
//   "p@ss/w0rd+?=&x",
//   "sk-live-Ab3\\x'y\"z \u00e9/+=&%?#<>`{}|^[]~!*()$,;:@ tail",
//   "it's \u00fcn\u00efc\u00f6d\u00e9 \u20ac \ud83d\ude00",
//   "line 'one'\nline \"two\"\t\\end\u000b\u007f\u0085\u009f\u00a0",
//   "both ' and \" and ` here",
//   "\u0000\u0001\u001f\b\f\r",
// ];
// const rs = s => '"' + [...Buffer.from(s)].map(b => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0')).join('') + '"';
// const unquote = s => s.slice(1, -1);
// const out = [];
// for (const v of values) {
//   const inspected = util.inspect(v);
//   const u = new URL('https://h.example/');
//   u.search = '?' + v;
//   const q = u.search.slice(1);
//   const w = new URL('https://h.example/');
//   w.password = v;
//   const pw = w.password;
//   const ascii = JSON.stringify(v).replace(/[\u0080-\uffff]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
//   const buf = util.inspect(Buffer.from(v)).replace(/^<Buffer /, '').replace(/( \.\.\. \d+ more bytes?)?>$/, '');
//   out.push(`    NodeForms {
//         value: b${rs(v)},
//         inspect: b${rs(inspected)},
//         json: b${rs(unquote(JSON.stringify(v)))},
//         json_json: b${rs(JSON.stringify(JSON.stringify(v)).slice(3, -3))},
//         json_ascii: b${rs(unquote(ascii))},
//         form: b${rs(new URLSearchParams({ k: v }).toString().slice(2))},
//         uri: b${rs(encodeURI(v))},
//         query: b${rs(q)},
//         password: b${rs(pw)},
//         hex: b${rs(Buffer.from(v).toString('hex'))},
//         buffer: b${rs(buf)},
//     },`);
// }
// console.log(out.join('\n'));

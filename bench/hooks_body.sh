# Sourced by bench/hooks.sh and bench/hooks-ab.sh: a 1 KiB WhatsApp message
# webhook (Meta's shape, the text padded to the size) in $1/body.json, and
# Meta's signature of it with secret $2, for bench/hooks.lua.
webhook_body() { # dir secret
  node -e '
const m = (t) => JSON.stringify({object: "whatsapp_business_account", entry: [{id: "102290129340398", changes: [{field: "messages",
  value: {messaging_product: "whatsapp", metadata: {display_phone_number: "15550783881", phone_number_id: "106540352242922"},
  contacts: [{profile: {name: "Bench"}, wa_id: "16505551234"}],
  messages: [{from: "16505551234", id: "wamid.bench", timestamp: "1700000000", type: "text", text: {body: t}}]}}]}]});
process.stdout.write(m("x".repeat(1024 - m("").length)));' >"$1/body.json"
  export WRK_BODY_FILE=$1/body.json
  WRK_SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$2" -r <"$1/body.json" | cut -d' ' -f1)"
  export WRK_SIGNATURE
}

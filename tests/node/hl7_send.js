// Sends each message given on the command line with Medplum's HL7 client (MLLP) and waits for its ACK.
// Prints "MSA-1 MSA-2" per message. Usage: node hl7_send.js PORT MESSAGE...
const { Hl7Client } = require("@medplum/hl7");
const { Hl7Message } = require("@medplum/core");

const [port, ...texts] = process.argv.slice(2);
(async () => {
  const client = new Hl7Client({ host: "127.0.0.1", port: Number(port) });
  for (const text of texts) {
    const ack = await client.sendAndWait(Hl7Message.parse(text));
    const msa = ack.getSegment("MSA");
    console.log(`${msa.getField(1).toString()} ${msa.getField(2).toString()}`);
  }
  client.close();
})().catch((error) => {
  console.error(`ERROR ${error}`);
  process.exit(1);
});

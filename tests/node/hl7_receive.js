// An HL7 receiver built on Medplum's HL7 server: answers every message with Medplum's own ACK
// (Hl7Message.buildAck) and prints each message's MSH-10, MSH-15 and MSH-16.
// Usage: node hl7_receive.js PORT   (prints "listening" once the port is open)
const { Hl7Server } = require("@medplum/hl7");

const port = Number(process.argv[2]);
const server = new Hl7Server((connection) => {
  connection.addEventListener("message", ({ message }) => {
    const msh = message.getSegment("MSH");
    console.log(`got ${msh.getField(10).toString()} ${msh.getField(15).toString()} ${msh.getField(16).toString()}`);
    connection.send(message.buildAck());
  });
});
server.start(port);
server.server.on("listening", () => console.log("listening"));
process.stdin.on("end", () => server.stop().then(() => process.exit(0)));
process.stdin.resume();

/** Rebuilds the devnet escrow artifact from its Solidity source. */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { artifactPath, compileEscrow, renderArtifact } from '../test/devnet/escrow/compile.js'

const artifact = compileEscrow()
writeFileSync(artifactPath, renderArtifact(artifact))
console.log(
  `wrote ${fileURLToPath(artifactPath)} (${(artifact.deployedBytecode.length - 2) / 2} bytes of runtime code)`,
)

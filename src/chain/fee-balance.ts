/**
 * The payee signer pays the fees of every settle and close transaction, in the configured fee
 * token. A signer without fee funds cannot settle, and unsettled value is what a payer's forced
 * close takes back: say so loudly at startup instead of at the first failed settlement.
 */
import { erc20Abi, type Address, type PublicClient } from 'viem'
import type { Logger } from 'pino'
import { errorSummary } from '../failure-log.js'

/** Reads the signer's fee-token balance, logs it, and warns when it is zero. Never throws. */
export async function checkFeeBalance(options: {
  publicClient: PublicClient
  feeToken: Address
  signer: Address
  logger: Logger
}): Promise<bigint | undefined> {
  const { feeToken, signer, logger } = options
  try {
    const balance = await options.publicClient.readContract({
      address: feeToken,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [signer],
    })
    if (balance === 0n) {
      logger.warn(
        { signer, feeToken },
        'the payee signer holds no fee token: settle and close transactions will fail until it is funded',
      )
    } else {
      logger.info({ signer, feeToken, balance: balance.toString() }, 'payee signer fee balance')
    }
    return balance
  } catch (error) {
    logger.warn(
      { error: errorSummary(error), signer, feeToken },
      'could not read the payee signer fee balance',
    )
    return undefined
  }
}

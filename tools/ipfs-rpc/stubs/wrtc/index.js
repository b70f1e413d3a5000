throw new Error('wrtc is stubbed out: WebRTC is disabled in the QFLchain offline IPFS test daemon')

throw new Error('electron-webrtc is stubbed out: WebRTC is disabled in the QFLchain offline IPFS test daemon')
